import { ArgsType, Field, Float, Int } from '@nestjs/graphql';
import { IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

/** Latitudes Redis accepts (Web Mercator), so figures compare with GEOSEARCH. */
const LAT = 85.05112878;
/** Hits one geo query may return. */
export const MAX_GEO_RESULTS = 1_000;
/** Half the Earth's circumference: any point is within it. */
const MAX_RADIUS_METERS = 20_037_508;

@ArgsType()
class IndexArgs {
  @Field() @IsString() @MaxLength(200) index!: string;
}

@ArgsType()
class PointArgs extends IndexArgs {
  @Field(() => Float) @Min(-LAT) @Max(LAT) lat!: number;
  @Field(() => Float) @Min(-180) @Max(180) lon!: number;
}

@ArgsType()
export class GeoSearchArgs extends PointArgs {
  @Field(() => Float) @Min(0) @Max(MAX_RADIUS_METERS) radiusMeters!: number;
  @Field(() => Int, { defaultValue: 100 }) @Min(1) @Max(MAX_GEO_RESULTS) limit!: number;
}

@ArgsType()
export class GeoNearestArgs extends PointArgs {
  @Field(() => Int) @Min(1) @Max(MAX_GEO_RESULTS) k!: number;
}

@ArgsType()
export class GeoPositionArgs extends IndexArgs {
  @Field() @IsString() @MaxLength(512) member!: string;
}

@ArgsType()
export class GeofenceEventsArgs extends IndexArgs {
  @Field({ nullable: true, description: 'Only this fence; all fences of the index when omitted.' }) @IsOptional() @IsString() @MaxLength(200) fence?: string;
}

@ArgsType()
export class GeoMovedArgs extends IndexArgs {
  @Field() @IsString() @MaxLength(512) member!: string;
}

@ArgsType()
export class GeoWithinArgs extends PointArgs {
  @Field(() => Float) @Min(0) @Max(MAX_RADIUS_METERS) radiusMeters!: number;
}
